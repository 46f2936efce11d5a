/*
** cuda/blas.c: batched GEMM through cuBLAS (cublasGemmStridedBatchedEx).
**
** a [B,m,k], b [B,k,n] of one dtype (f32, f64, f16, bf16), any strides
** (batch stride may be 0); out [B,m,n] contiguous. cuBLAS is column-major:
** the row-major product C = A B is computed as C^T = B^T A^T, where a
** row-major matrix is its own transpose in column-major order. A matrix
** whose last dim is contiguous is passed as is, one whose first dim is
** contiguous with the transpose flag; only others are copied.
**
** f32 uses TF32 tensor cores when bt_cuda_allow_tf32() is on; f16 and bf16
** run on tensor cores with f32 accumulation; f64 in f64.
*/
#include "common.h"
#include "kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <pthread.h>

#define MAX_DEVICES 64

static cublasHandle_t handles[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "error";
  }
}

static cublasHandle_t handle(int device) {
  pthread_mutex_lock(&lock);
  if (!handles[device] && cublasCreate(&handles[device]) != CUBLAS_STATUS_SUCCESS)
    handles[device] = NULL;
  cublasHandle_t h = handles[device];
  pthread_mutex_unlock(&lock);
  return h;
}

/* How cuBLAS should read a row-major [rows x cols] matrix with strides
** (rs, cs): as its transpose (trans = N, ld = rs) or as itself (trans = T,
** ld = cs). False when neither stride is 1. */
static bool layout_of(int64_t rows, int64_t cols, int64_t rs, int64_t cs, cublasOperation_t *op,
                      int64_t *ld) {
  if (cs == 1 && rs >= BT_MAX(cols, 1)) {
    *op = CUBLAS_OP_N;
    *ld = rs;
    return true;
  }
  if (rs == 1 && cs >= BT_MAX(rows, 1)) {
    *op = CUBLAS_OP_T;
    *ld = cs;
    return true;
  }
  if (rows == 1 && cs == 1) {
    *op = CUBLAS_OP_N;
    *ld = BT_MAX(cols, 1);
    return true;
  }
  if (cols == 1 && rs == 1) {
    *op = CUBLAS_OP_T;
    *ld = BT_MAX(rows, 1);
    return true;
  }
  return false;
}

int btc_matmul(bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b) {
  if (btc_use(out) < 0 || btc_check_operand("matmul", out, a) < 0 ||
      btc_check_operand("matmul", out, b) < 0)
    return -1;
  if (a->storage->device.type == BT_CPU || b->storage->device.type == BT_CPU)
    return bt_seterr("matmul: an operand is on the CPU (move it with :cuda())");
  int64_t B = a->shape[0], m = a->shape[1], k = a->shape[2], n = b->shape[2];
  if (B * m * n == 0) return 0;
  size_t es = bt_dtype_size(out->dtype);
  if (k == 0)
    return btc_check(cudaMemsetAsync(bt_data(out), 0, (size_t)(B * m * n) * es, 0), "matmul");
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || B > INT32_MAX)
    return bt_seterr("matmul: sizes %lldx%lldx%lld (batch %lld) exceed cuBLAS's int range",
                     (long long)m, (long long)k, (long long)n, (long long)B);
  bt_Tensor *ac = NULL, *bc = NULL;
  cublasOperation_t ta, tb;
  int64_t lda, ldb;
  if (!layout_of(m, k, a->stride[1], a->stride[2], &ta, &lda)) {
    if (!(ac = bt_contiguous_as((bt_Tensor *)a, a->dtype))) return -1;
    a = ac;
    layout_of(m, k, a->stride[1], a->stride[2], &ta, &lda);
  }
  if (!layout_of(k, n, b->stride[1], b->stride[2], &tb, &ldb)) {
    if (!(bc = bt_contiguous_as((bt_Tensor *)b, b->dtype))) {
      bt_release(ac);
      return -1;
    }
    b = bc;
    layout_of(k, n, b->stride[1], b->stride[2], &tb, &ldb);
  }
  cudaDataType_t dt;
  cublasComputeType_t ct;
  switch (out->dtype) {
    case BT_F32:
      dt = CUDA_R_32F;
      ct = bt_cuda_allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      break;
    case BT_F64: dt = CUDA_R_64F; ct = CUBLAS_COMPUTE_64F; break;
    case BT_F16: dt = CUDA_R_16F; ct = CUBLAS_COMPUTE_32F; break;
    case BT_BF16: dt = CUDA_R_16BF; ct = CUBLAS_COMPUTE_32F; break;
    default:
      bt_release(ac);
      bt_release(bc);
      return bt_seterr("matmul: no CUDA kernel for %s", bt_dtype_name(out->dtype));
  }
  int rc = 0;
  cublasHandle_t h = handle(out->storage->device.index);
  if (!h) {
    rc = bt_seterr("matmul: cannot create a cuBLAS handle");
  } else {
    float one32 = 1, zero32 = 0;
    double one64 = 1, zero64 = 0;
    const void *alpha = dt == CUDA_R_64F ? (const void *)&one64 : (const void *)&one32;
    const void *beta = dt == CUDA_R_64F ? (const void *)&zero64 : (const void *)&zero32;
    /* Column-major: C^T [n x m] = op(B^T) [n x k] * op(A^T) [k x m]. */
    cublasStatus_t s = cublasGemmStridedBatchedEx(
        h, tb, ta, (int)n, (int)m, (int)k, alpha, bt_data(b), dt, (int)ldb,
        (long long)b->stride[0], bt_data(a), dt, (int)lda, (long long)a->stride[0], beta,
        bt_data(out), dt, (int)n, (long long)(m * n), (int)B, ct, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
      rc = bt_seterr("matmul: cuBLAS %s (%s @ %s, %s)", status_name(s), bt_shp(a), bt_shp(b),
                     bt_dtype_name(out->dtype));
  }
  bt_release(ac);
  bt_release(bc);
  return rc;
}
