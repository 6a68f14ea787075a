// The out-of-line part of llamacpp_dot_impl.h (compiled without ISA flags).
#include "kernels/cpu/llamacpp_dot_impl.h"

#include "core/error.h"

namespace lmd::cpu::llamacpp::dot_impl {

void check_rows_layout(PackLayout l) {
  LMD_CHECK(l == PackLayout::kRows) << "llama.cpp numerics: weight packed in the AVX-512 16-row layout "
                                    << "(pack with PackLayout::kRows)";
}

}  // namespace lmd::cpu::llamacpp::dot_impl
