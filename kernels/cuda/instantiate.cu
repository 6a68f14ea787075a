// nvcc instantiations of every kernel in kernels/cuda for sm_80 / sm_90, so the build
// (with ptxas spills / local memory as errors) covers exactly what the shim tests run.
#include "kernels/cuda/decode_attention.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/mma.h"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda/rope_kv_write.cuh"
#include "kernels/cuda/sampling.cuh"
#include "kernels/cuda/silu_mul.cuh"
#include "kernels/cuda/w4a16_gemv.cuh"

namespace lmd::cuda {

template void rms_norm<float>(float*, const float*, const float*, int, int, float, float*);
template void rms_norm<__half>(__half*, const __half*, const __half*, int, int, float, __half*);
template void rms_norm<__nv_bfloat16>(__nv_bfloat16*, const __nv_bfloat16*, const __nv_bfloat16*, int, int, float,
                                      __nv_bfloat16*);
template void silu_mul<float>(const float*, const float*, int64_t, float*);
template void silu_mul<__half>(const __half*, const __half*, int64_t, __half*);
template void embedding<float>(const float*, const int32_t*, int, int, float*);
template void embedding<__half>(const __half*, const int32_t*, int, int, float*);
template void embedding<__nv_bfloat16>(const __nv_bfloat16*, const int32_t*, int, int, float*);
template void w4a16_gemv<float>(const W4Matrix&, const float*, int, const float*, float*, int, bool);
template void w4a16_gemv<__half>(const W4Matrix&, const __half*, int, const float*, float*, int, bool);

// The non-template entry points, odr-used so their kernels are compiled.
void (*kEmbeddingInt4)(const uint8_t*, const uint16_t*, const int32_t*, int, int, int, float*) = &embedding_int4;
void (*kRopeKvWrite)(const RopeKvArgs&) = &rope_kv_write;
void (*kDecodeAttention)(const AttentionArgs&) = &decode_attention;
void (*kSample)(const SampleArgs&, int) = &sample;

}  // namespace lmd::cuda
