/*
** bench_cublas: GEMM throughput through cuBLAS called directly, the
** reference brasa's matmul is compared with (tests/gpu/run.sh).
**
**   bench_cublas [sizes...]      default: 4096 8192
**
** For each size n and each mode (f32, tf32, bf16) it multiplies two n x n
** matrices of random values with cublasGemmEx (f32 accumulation), times
** `reps` products after warm-ups with CUDA events, and prints one line:
**   cublas <mode> <n> <TFLOP/s> <ms per product>
*/
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(x)                                                              \
  do {                                                                        \
    cudaError_t e_ = (x);                                                     \
    if (e_ != cudaSuccess) {                                                  \
      fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));                \
      exit(1);                                                                \
    }                                                                         \
  } while (0)
#define CHECK_BLAS(x)                                                         \
  do {                                                                        \
    cublasStatus_t s_ = (x);                                                  \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                        \
      fprintf(stderr, "%s: cuBLAS status %d\n", #x, (int)s_);                 \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

__global__ void init_f32(float *p, long long n, unsigned seed) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)blockDim.x * gridDim.x) {
    unsigned x = (unsigned)i * 2654435761u ^ seed;
    x ^= x >> 13; x *= 0x5bd1e995u; x ^= x >> 15;
    p[i] = (float)(x & 0xffff) / 65536.0f - 0.5f;
  }
}

__global__ void to_bf16(__nv_bfloat16 *d, const float *s, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)blockDim.x * gridDim.x)
    d[i] = __float2bfloat16(s[i]);
}

static void bench(cublasHandle_t h, const char *mode, int n) {
  long long nn = (long long)n * n;
  float *a, *b, *c;
  __nv_bfloat16 *ah = NULL, *bh = NULL, *ch = NULL;
  CHECK(cudaMalloc(&a, nn * 4));
  CHECK(cudaMalloc(&b, nn * 4));
  CHECK(cudaMalloc(&c, nn * 4));
  init_f32<<<1024, 256>>>(a, nn, 1);
  init_f32<<<1024, 256>>>(b, nn, 2);
  bool half = mode[0] == 'b';
  if (half) {
    CHECK(cudaMalloc(&ah, nn * 2));
    CHECK(cudaMalloc(&bh, nn * 2));
    CHECK(cudaMalloc(&ch, nn * 2));
    to_bf16<<<1024, 256>>>(ah, a, nn);
    to_bf16<<<1024, 256>>>(bh, b, nn);
  }
  cublasComputeType_t ct = mode[0] == 't' ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  cudaDataType_t dt = half ? CUDA_R_16BF : CUDA_R_32F;
  const void *pa = half ? (const void *)ah : a, *pb = half ? (const void *)bh : b;
  void *pc = half ? (void *)ch : c;
  float alpha = 1, beta = 0;
  int reps = n <= 4096 ? 20 : 8;
  for (int i = 0; i < 3; i++)
    CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, pb, dt, n, pa, dt, n, &beta,
                            pc, dt, n, ct, CUBLAS_GEMM_DEFAULT));
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  CHECK(cudaEventRecord(e0));
  for (int i = 0; i < reps; i++)
    CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, pb, dt, n, pa, dt, n, &beta,
                            pc, dt, n, ct, CUBLAS_GEMM_DEFAULT));
  CHECK(cudaEventRecord(e1));
  CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, e0, e1));
  ms /= reps;
  printf("cublas %s %d %.1f %.3f\n", mode, n, 2.0 * n * (double)n * n / (ms * 1e-3) / 1e12, ms);
  fflush(stdout);
  cudaFree(a); cudaFree(b); cudaFree(c);
  if (half) { cudaFree(ah); cudaFree(bh); cudaFree(ch); }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
}

int main(int argc, char **argv) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
    printf("bench_cublas: no CUDA device\n");
    return 0;
  }
  cublasHandle_t h;
  CHECK_BLAS(cublasCreate(&h));
  int sizes[8] = {4096, 8192}, nsizes = 2;
  if (argc > 1) {
    nsizes = 0;
    for (int i = 1; i < argc && nsizes < 8; i++) sizes[nsizes++] = atoi(argv[i]);
  }
  const char *modes[3] = {"f32", "tf32", "bf16"};
  for (int s = 0; s < nsizes; s++)
    for (int m = 0; m < 3; m++) bench(h, modes[m], sizes[s]);
  cublasDestroy(h);
  return 0;
}
