/*
** cpu/matmul.c: batched GEMM through OpenBLAS (cblas_sgemm/dgemm).
**
** a [B,m,k] and b [B,k,n] may have any strides: a matrix whose last dim is
** contiguous is passed as is, one whose first dim is contiguous is passed
** with the transpose flag, and only others are copied. out [B,m,n] is
** contiguous.
*/
#include "kernels.h"

#include <cblas.h>

/* How BLAS should read a [rows x cols] matrix with strides (rs, cs). */
static bool blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                        CBLAS_TRANSPOSE *trans, int64_t *ld) {
  if (cs == 1 && rs >= BT_MAX(cols, 1)) {
    *trans = CblasNoTrans;
    *ld = rs;
    return true;
  }
  if (rs == 1 && cs >= BT_MAX(rows, 1)) {
    *trans = CblasTrans;
    *ld = cs;
    return true;
  }
  if (rows == 1 && cs == 1) {   /* a single row: any row stride works */
    *trans = CblasNoTrans;
    *ld = BT_MAX(cols, 1);
    return true;
  }
  if (cols == 1 && rs == 1) {
    *trans = CblasTrans;
    *ld = BT_MAX(rows, 1);
    return true;
  }
  return false;
}

int bt_cpu_matmul(bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b) {
  int64_t B = a->shape[0], m = a->shape[1], k = a->shape[2], n = b->shape[2];
  bt_Tensor *ac = NULL, *bc = NULL;
  CBLAS_TRANSPOSE ta = CblasNoTrans, tb = CblasNoTrans;
  int64_t lda = 1, ldb = 1;
  if (!blas_layout(m, k, a->stride[1], a->stride[2], &ta, &lda)) {
    if (!(ac = bt_contiguous_as((bt_Tensor *)a, a->dtype))) return -1;
    a = ac;
    blas_layout(m, k, a->stride[1], a->stride[2], &ta, &lda);
  }
  if (!blas_layout(k, n, b->stride[1], b->stride[2], &tb, &ldb)) {
    if (!(bc = bt_contiguous_as((bt_Tensor *)b, b->dtype))) {
      bt_release(ac);
      return -1;
    }
    b = bc;
    blas_layout(k, n, b->stride[1], b->stride[2], &tb, &ldb);
  }
  int rc = 0;
  size_t es = bt_dtype_size(out->dtype);
  for (int64_t i = 0; i < B; i++) {
    if (bt_interrupted()) {
      rc = bt_seterr("matmul: interrupted");
      break;
    }
    const char *pa = (const char *)bt_data(a) + i * a->stride[0] * (int64_t)es;
    const char *pb = (const char *)bt_data(b) + i * b->stride[0] * (int64_t)es;
    char *pc = (char *)bt_data(out) + i * m * n * (int64_t)es;
    if (k == 0) {
      memset(pc, 0, (size_t)(m * n) * es);
      continue;
    }
    if (out->dtype == BT_F32)
      cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, 1.0f, (const float *)pa, (int)lda,
                  (const float *)pb, (int)ldb, 0.0f, (float *)pc, (int)BT_MAX(n, 1));
    else
      cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, 1.0, (const double *)pa, (int)lda,
                  (const double *)pb, (int)ldb, 0.0, (double *)pc, (int)BT_MAX(n, 1));
  }
  bt_release(ac);
  bt_release(bc);
  return rc;
}
