// The scalar twin of cublasGemmEx (kernels/cuda/shim/cublas.h) against a plain row-major
// matmul written independently of column-major indexing, for all four transpose combinations,
// alpha / beta, padded leading dimensions and the f16 / bf16 / f32 operand types; and its
// argument checks (the point of the twin: the backend's call parameters are verified here).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cuda/shim/cuda_compat.h"
#include "kernels/cuda/shim/cublas.h"

namespace lmd::cuda_test {
namespace {

// Plain matrices as vectors of vectors: M[i][j].
using Mat = std::vector<std::vector<double>>;

Mat random_mat(int r, int c, uint32_t seed) {
  std::mt19937 rng(seed);
  Mat m(r, std::vector<double>(c));
  for (auto& row : m)
    for (auto& v : row) v = static_cast<double>(static_cast<int>(rng() % 9) - 4) / 4.0;  // exact in f16 / bf16
  return m;
}

// Stores matrix `m` (rows x cols) column-major with leading dimension ld into a device buffer
// of element type `t`.
void* store(const Mat& m, int ld, cudaDataType_t t) {
  const int rows = static_cast<int>(m.size()), cols = static_cast<int>(m[0].size());
  const size_t bytes = static_cast<size_t>(ld) * cols * (t == CUDA_R_32F ? 4 : 2);
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) shim::cublas_store(p, t, i + static_cast<int64_t>(j) * ld, m[i][j]);
  return p;
}

Mat transpose(const Mat& m) {
  Mat t(m[0].size(), std::vector<double>(m.size()));
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m[0].size(); ++j) t[j][i] = m[i][j];
  return t;
}

TEST(CudaCublasTwin, GemmExMatchesPlainMatmulForAllTransposes) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasSetStream(h, nullptr), CUBLAS_STATUS_SUCCESS);
  const int m = 5, n = 3, k = 7;
  for (cudaDataType_t ab : {CUDA_R_16F, CUDA_R_16BF, CUDA_R_32F}) {
    for (cublasOperation_t ta : {CUBLAS_OP_N, CUBLAS_OP_T}) {
      for (cublasOperation_t tb : {CUBLAS_OP_N, CUBLAS_OP_T}) {
        SCOPED_TRACE("type " + std::to_string(ab) + " transa " + std::to_string(ta) + " transb " + std::to_string(tb));
        const Mat a = random_mat(m, k, 1), b = random_mat(k, n, 2), c = random_mat(m, n, 3);  // op(A), op(B), C
        const Mat sa = ta == CUBLAS_OP_T ? transpose(a) : a, sb = tb == CUBLAS_OP_T ? transpose(b) : b;
        const int lda = static_cast<int>(sa.size()) + 2, ldb = static_cast<int>(sb.size()) + 1, ldc = m + 3;
        void* da = store(sa, lda, ab);
        void* db = store(sb, ldb, ab);
        void* dc = store(c, ldc, CUDA_R_32F);
        const float alpha = 1.5f, beta = -0.5f;
        ASSERT_EQ(cublasGemmEx(h, ta, tb, m, n, k, &alpha, da, ab, lda, db, ab, ldb, &beta, dc, CUDA_R_32F, ldc,
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  CUBLAS_STATUS_SUCCESS);
        const float* out = static_cast<const float*>(dc);
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) {
            double s = 0.0;
            for (int p = 0; p < k; ++p) s += a[i][p] * b[p][j];
            EXPECT_EQ(out[i + j * ldc], static_cast<float>(alpha * s + beta * c[i][j])) << i << "," << j;
          }
        }
        for (int j = 0; j < n; ++j)  // the rows between m and ldc keep the allocation's NaN poison
          for (int pad = m; pad < ldc; ++pad) EXPECT_TRUE(std::isnan(out[pad + j * ldc])) << "padding written";
        cudaFree(da);
        cudaFree(db);
        cudaFree(dc);
      }
    }
  }
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasDestroy(h), CUBLAS_STATUS_NOT_INITIALIZED);
}

TEST(CudaCublasTwin, BetaZeroDoesNotReadC) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const Mat a = random_mat(2, 2, 4), b = random_mat(2, 2, 5);
  void* da = store(a, 2, CUDA_R_16F);
  void* db = store(b, 2, CUDA_R_16F);
  void* dc = nullptr;
  ASSERT_EQ(cudaMalloc(&dc, 16), cudaSuccess);  // fresh shim memory: NaN poison
  const float alpha = 1.0f, beta = 0.0f;
  ASSERT_EQ(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, da, CUDA_R_16F, 2, db, CUDA_R_16F, 2, &beta, dc,
                         CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(std::isnan(static_cast<float*>(dc)[i])) << i;
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  cublasDestroy(h);
}

TEST(CudaCublasTwin, BadArgumentsFailLoudly) {
  cublasHandle_t h = nullptr;
  ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  const Mat a = random_mat(4, 4, 6);
  void* d = store(a, 4, CUDA_R_16F);
  void* c = store(a, 4, CUDA_R_32F);
  const float one = 1.0f;
  auto call = [&](cublasOperation_t ta, int m, int n, int k, int lda, int ldb, int ldc, cudaDataType_t bt,
                  cublasHandle_t hh) {
    cublasGemmEx(hh, ta, CUBLAS_OP_N, m, n, k, &one, d, CUDA_R_16F, lda, d, bt, ldb, &one, c, CUDA_R_32F, ldc,
                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "accepted; expected an error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  call(CUBLAS_OP_N, 4, 4, 4, 4, 4, 4, CUDA_R_16F, h);  // valid
  expect_error([&] { call(CUBLAS_OP_N, 4, 4, 4, 3, 4, 4, CUDA_R_16F, h); }, "lda 3 < 4");
  expect_error([&] { call(CUBLAS_OP_T, 4, 2, 3, 2, 4, 4, CUDA_R_16F, h); }, "lda 2 < 3");  // T: A stored k x m
  expect_error([&] { call(CUBLAS_OP_N, 4, 4, 4, 4, 3, 4, CUDA_R_16F, h); }, "ldb 3 < 4");
  expect_error([&] { call(CUBLAS_OP_N, 4, 4, 4, 4, 4, 2, CUDA_R_16F, h); }, "ldc 2 < 4");
  expect_error([&] { call(CUBLAS_OP_N, 4, 4, 4, 4, 4, 4, CUDA_R_16BF, h); }, "Btype");
  expect_error([&] { call(CUBLAS_OP_N, 4, 5, 4, 4, 4, 4, CUDA_R_16F, h); }, "overruns");  // B is 4 x 4
  expect_error([&] { call(CUBLAS_OP_N, 4, 4, 4, 4, 4, 4, CUDA_R_16F, nullptr); }, "handle");
  cudaFree(d);
  cudaFree(c);
  cublasDestroy(h);
}

}  // namespace
}  // namespace lmd::cuda_test
