/*
** autograd.h: how ops record backward rules (the engine is in autograd.c).
**
** An op that may need a gradient does, after computing its output `out`:
**
**   if (bt_ag_needs(2, inputs)) {
**     bt_Node *n = bt_ag_record("MulBackward", mul_backward, 2, inputs, out);
**     if (!n) { bt_release(out); return NULL; }
**     bt_ag_save(n, a); bt_ag_save(n, b);
**   }
**
** A backward rule receives the gradient of the node's output and writes one
** new reference (or NULL) per input into gin, using only differentiable ops
** (bt_mul, bt_sum, ...) so that gradients of gradients work. It may skip an
** input whose bt_ag_wants(n, i) is false. The engine then sums each gradient
** down to its input's shape (broadcasting) and casts it to the input's dtype,
** in one place, so rules may return broadcast-shaped gradients.
*/
#ifndef BRASA_AUTOGRAD_H
#define BRASA_AUTOGRAD_H

#include "brasa.h"

#define BT_NODE_MAX_SAVED 4
#define BT_NODE_MAX_ARGS 8

typedef int (*bt_BackwardFn)(bt_Node *n, bt_Tensor *gout, bt_Tensor **gin);

typedef struct bt_Edge {
  bt_Node *node;          /* the producer of this input, or NULL */
  bt_Tensor *leaf;        /* or the leaf that accumulates, or NULL (no gradient) */
  int ndim;               /* the input's shape and dtype, for the engine */
  int64_t shape[BT_MAX_DIMS];
  bt_DType dtype;
} bt_Edge;

struct bt_Hook {
  bt_HookFn fn;
  bt_HookFree free_ud;
  void *ud;
  struct bt_Hook *next;
};

struct bt_Node {
  int refcount;
  const char *name;
  bt_BackwardFn backward;
  uint64_t seq;                      /* creation order: later nodes run first */
  int n_next;
  bt_Edge *next;                     /* one per input of the op */
  int n_saved;
  bt_Tensor *saved[BT_NODE_MAX_SAVED];
  uint32_t saved_version[BT_NODE_MAX_SAVED];
  bool released;                     /* saved tensors freed after backward */
  bool save_overflow;                /* a rule tried to save too many tensors */
  double d[BT_NODE_MAX_ARGS];        /* the op's scalar arguments */
  int64_t i[BT_NODE_MAX_ARGS];       /* the op's integer arguments */
  void *extra;                       /* other data, freed with free_extra */
  void (*free_extra)(void *);
  bt_Hook *hooks;                    /* hooks on the output's gradient */
  char *trace;                       /* where it was created (anomaly mode) */
  /* engine scratch */
  int deps;
  bt_Tensor *buffer;                 /* gradient accumulated for the output */
  int mark;
};

/* True when grad mode is on and some input requires a gradient. */
bool bt_ag_needs(int n, bt_Tensor *const *inputs);
/* Creates a node for out (out->grad_fn = node, requires_grad = true) with
** one edge per input. NULL on allocation failure. */
bt_Node *bt_ag_record(const char *name, bt_BackwardFn fn, int n, bt_Tensor *const *inputs,
                      bt_Tensor *out);
/* Saves t for backward (retained; its version is checked at backward). */
void bt_ag_save(bt_Node *n, bt_Tensor *t);
/* Saves a detached alias of an output (no reference cycle). */
void bt_ag_save_output(bt_Node *n, bt_Tensor *out);
/* Does input i need a gradient? */
bool bt_ag_wants(const bt_Node *n, int i);
/* True while a backward with create_graph runs (rules that use a saved
** output recompute it from the inputs then, so second derivatives see it). */
bool bt_ag_create_graph(void);

void bt_node_retain(bt_Node *n);
void bt_node_release(bt_Node *n);

/* For view ops: the output shares storage with a graph tensor. */
void bt_ag_mark_view(bt_Tensor *out, const bt_Tensor *base);
/* For in-place ops on t: fails for leaves that require grad (outside no_grad)
** and for views of graph tensors. */
int bt_ag_check_inplace(const char *op, const bt_Tensor *t);
/* For in-place ops writing src into t: fails when t is a view and src
** requires grad, since the gradient could not reach src through t's base. */
int bt_ag_check_write_from(const char *op, const bt_Tensor *t, const bt_Tensor *src);

#endif
