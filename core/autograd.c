/*
** autograd.c: the reverse-mode engine.
**
** Ops record nodes (autograd.h). bt_backward and bt_grad run the graph:
** nodes are ordered by their creation number (a node can only point to
** nodes created before it, so decreasing creation order is a topological
** order), each node's incoming gradients are summed in its buffer, and the
** engine reduces every gradient a rule returns to its input's shape and
** dtype (broadcasting is undone here, once, for all ops).
**
** Nothing here recurses: discovery uses an explicit stack, and releasing a
** long chain of nodes defers nested releases to the outermost call, so a
** 100,000-op graph neither overflows the C stack when built, run or freed.
*/
#include "internal.h"
#include "autograd.h"

#include <limits.h>
#include <stdio.h>

static _Thread_local bool grad_mode_off;          /* false: grad mode on */
static _Thread_local bool in_create_graph;
static bool anomaly_mode;
static uint64_t node_counter;
static bt_TraceFn trace_fn;
static void *trace_ud;

bool bt_grad_enabled(void) { return !grad_mode_off; }

bool bt_set_grad_enabled(bool on) {
  bool prev = !grad_mode_off;
  grad_mode_off = !on;
  return prev;
}

void bt_set_anomaly_detection(bool on) { anomaly_mode = on; }
bool bt_anomaly_detection(void) { return anomaly_mode; }
bool bt_ag_create_graph(void) { return in_create_graph; }

void bt_set_trace_fn(bt_TraceFn fn, void *ud) {
  trace_fn = fn;
  trace_ud = ud;
}

/* ---- recording ------------------------------------------------------------ */

bool bt_ag_needs(int n, bt_Tensor *const *inputs) {
  if (grad_mode_off) return false;
  for (int i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) return true;
  return false;
}

bt_Node *bt_ag_record(const char *name, bt_BackwardFn fn, int n, bt_Tensor *const *inputs,
                      bt_Tensor *out) {
  bt_Node *node = calloc(1, sizeof *node);
  bt_Edge *next = calloc((size_t)(n ? n : 1), sizeof *next);
  if (!node || !next) {
    free(node);
    free(next);
    bt_seterr("%s: out of memory recording the graph", name);
    return NULL;
  }
  node->refcount = 1;
  node->name = name;
  node->backward = fn;
  node->seq = __atomic_add_fetch(&node_counter, 1, __ATOMIC_RELAXED);
  node->n_next = n;
  node->next = next;
  for (int i = 0; i < n; i++) {
    bt_Tensor *x = inputs[i];
    if (!x || !x->requires_grad) continue;
    bt_Edge *e = &next[i];
    if (x->grad_fn) {
      e->node = x->grad_fn;
      bt_node_retain(e->node);
    } else {
      e->leaf = x;
      bt_retain(x);
    }
    e->ndim = x->ndim;
    memcpy(e->shape, x->shape, sizeof e->shape);
    e->dtype = x->dtype;
  }
  if (anomaly_mode && trace_fn) node->trace = trace_fn(trace_ud);
  bt_Node *old = out->grad_fn;   /* in-place ops rebind their output */
  out->grad_fn = node;
  out->requires_grad = true;
  bt_node_release(old);
  return node;
}

void bt_ag_save(bt_Node *n, bt_Tensor *t) {
  if (n->n_saved == BT_NODE_MAX_SAVED) {   /* a rule saving too much: fail at backward */
    n->save_overflow = true;
    return;
  }
  bt_retain(t);
  n->saved_version[n->n_saved] = t->storage->version;
  n->saved[n->n_saved++] = t;
}

void bt_ag_save_output(bt_Node *n, bt_Tensor *out) {
  if (n->n_saved == BT_NODE_MAX_SAVED) {
    n->save_overflow = true;
    return;
  }
  bt_Tensor *alias = bt_alias(out, out->ndim, out->shape, out->stride, out->offset);
  if (!alias) return;   /* out of memory: backward will report the missing tensor */
  n->saved_version[n->n_saved] = out->storage->version;
  n->saved[n->n_saved++] = alias;
}

bool bt_ag_wants(const bt_Node *n, int i) {
  return i < n->n_next && (n->next[i].node || n->next[i].leaf);
}

void bt_ag_mark_view(bt_Tensor *out, const bt_Tensor *base) {
  out->is_view = true;
  if (base->requires_grad || base->is_graph_view) out->is_graph_view = true;
}

int bt_ag_check_inplace(const char *op, const bt_Tensor *t) {
  for (int d = 0; d < t->ndim && bt_numel(t) > 0; d++)   /* an empty tensor overlaps nothing */
    if (t->stride[d] == 0 && t->shape[d] > 1)
      return bt_seterr("%s: cannot write in place into %s: several of its elements share one "
                       "memory location (an expanded view); clone() it first", op, bt_shp(t));
  if (grad_mode_off) return 0;
  if (t->requires_grad && !t->grad_fn)
    return bt_seterr("%s: a leaf tensor that requires grad cannot be modified in place "
                     "(do it inside brasa.no_grad, or work on a clone)", op);
  if (t->is_graph_view)
    return bt_seterr("%s: writing into part of a tensor that is in a graph (it requires grad) is not "
                     "supported; build the result out of place (cat, where, masked_fill) or "
                     "write inside brasa.no_grad", op);
  return 0;
}

int bt_ag_check_write_from(const char *op, const bt_Tensor *t, const bt_Tensor *src) {
  if (grad_mode_off || !t->is_view || !src->requires_grad) return 0;
  return bt_seterr("%s: writing a tensor that requires grad (%s) into a view (part) of another "
                   "tensor is not supported: its gradient could not flow back; build the result "
                   "with brasa.cat, brasa.stack or brasa.where, or write src:detach()",
                   op, bt_shp(src));
}

/* ---- releasing --------------------------------------------------------------- */

void bt_node_retain(bt_Node *n) { __atomic_add_fetch(&n->refcount, 1, __ATOMIC_RELAXED); }

static void release_saved(bt_Node *n) {
  for (int i = 0; i < n->n_saved; i++) {
    bt_release(n->saved[i]);
    n->saved[i] = NULL;
  }
  if (n->free_extra && n->extra) n->free_extra(n->extra);
  n->extra = NULL;
  n->released = true;
}

static void free_node(bt_Node *n) {
  release_saved(n);
  for (int i = 0; i < n->n_next; i++) {
    bt_node_release(n->next[i].node);   /* deferred: see bt_node_release */
    bt_release(n->next[i].leaf);
  }
  for (bt_Hook *h = n->hooks, *next; h; h = next) {
    next = h->next;
    if (h->free_ud) h->free_ud(h->ud);
    free(h);
  }
  bt_release(n->buffer);
  free(n->next);
  free(n->trace);
  free(n);
}

/* Nodes whose count reached zero while another release was running wait
** here, so freeing a chain is a loop instead of a recursion. */
static _Thread_local bt_Node **pending;
static _Thread_local int64_t npending, cappending;
static _Thread_local bool releasing;

void bt_node_release(bt_Node *n) {
  if (!n || __atomic_sub_fetch(&n->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
  if (releasing) {
    if (npending == cappending) {
      int64_t cap = cappending ? 2 * cappending : 64;
      bt_Node **p = realloc(pending, (size_t)cap * sizeof *p);
      if (!p) abort();   /* cannot even remember what to free: nothing sane is left */
      pending = p;
      cappending = cap;
    }
    pending[npending++] = n;
    return;
  }
  releasing = true;
  free_node(n);
  while (npending > 0) free_node(pending[--npending]);
  releasing = false;
}

/* ---- hooks ---------------------------------------------------------------- */

int bt_register_hook(bt_Tensor *t, bt_HookFn fn, bt_HookFree free_ud, void *ud) {
  if (!t->requires_grad)
    return bt_seterr("register_hook: the tensor does not require grad");
  bt_Hook *h = malloc(sizeof *h);
  if (!h) return bt_seterr("register_hook: out of memory");
  h->fn = fn;
  h->free_ud = free_ud;
  h->ud = ud;
  bt_Hook **list = t->grad_fn ? &t->grad_fn->hooks : &t->hooks;
  h->next = NULL;
  while (*list) list = &(*list)->next;   /* run in registration order */
  *list = h;
  return 0;
}

/* Runs hooks on *g, replacing it when a hook returns a new gradient. */
static int run_hooks(bt_Hook *h, bt_Tensor **g) {
  for (; h; h = h->next) {
    bool failed = false;
    bt_Tensor *r = h->fn(h->ud, *g, &failed);
    if (failed) return -1;
    if (r) {
      bt_release(*g);
      *g = r;
    }
  }
  return 0;
}

/* ---- leaf helpers -------------------------------------------------------------- */

bool bt_is_leaf(const bt_Tensor *t) { return t->grad_fn == NULL; }

int bt_requires_grad_(bt_Tensor *t, bool on) {
  if (t->grad_fn) {
    if (on) return 0;
    return bt_seterr("requires_grad_: only leaves can stop requiring grad (use detach())");
  }
  if (on && !bt_dtype_is_float(t->dtype))
    return bt_seterr("requires_grad_: only float tensors can require gradients, got %s",
                     bt_dtype_name(t->dtype));
  t->requires_grad = on;
  return 0;
}

int bt_set_grad(bt_Tensor *t, bt_Tensor *g) {
  if (g && !bt_same_shape(t, g))
    return bt_seterr("grad: assigned gradient has shape %s but the tensor has shape %s",
                     bt_shp(g), bt_shp(t));
  if (g) bt_retain(g);
  bt_release(t->grad);
  t->grad = g;
  return 0;
}

const char *bt_grad_fn_name(const bt_Tensor *t) { return t->grad_fn ? t->grad_fn->name : NULL; }

/* ---- the engine -------------------------------------------------------------- */

typedef struct {
  bt_Node **nodes;
  int64_t n, cap;
} NodeList;

static int list_push(NodeList *l, bt_Node *n) {
  if (l->n == l->cap) {
    int64_t cap = l->cap ? 2 * l->cap : 64;
    bt_Node **p = realloc(l->nodes, (size_t)cap * sizeof *p);
    if (!p) return bt_seterr("backward: out of memory");
    l->nodes = p;
    l->cap = cap;
  }
  l->nodes[l->n++] = n;
  return 0;
}

static int by_seq_desc(const void *a, const void *b) {
  uint64_t x = (*(bt_Node *const *)a)->seq, y = (*(bt_Node *const *)b)->seq;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Marks of a discovery pass start at 3: after a pass, mark_needed and
** run_backward leave nodes marked 1 or 2, which a later pass must not take
** for its own mark (that made the second backward of a process skip the graph). */
static int pass_mark = 2;

/* All nodes reachable from the roots, in decreasing creation order. */
static int collect(int nroots, bt_Node *const *roots, NodeList *out) {
  int mark = pass_mark = pass_mark >= INT_MAX - 1 ? 3 : pass_mark + 1;
  NodeList stack = {0};
  for (int i = 0; i < nroots; i++)
    if (roots[i] && roots[i]->mark != mark) {
      roots[i]->mark = mark;
      if (list_push(&stack, roots[i]) < 0) goto fail;
    }
  while (stack.n > 0) {
    bt_Node *n = stack.nodes[--stack.n];
    if (list_push(out, n) < 0) goto fail;
    for (int i = 0; i < n->n_next; i++) {
      bt_Node *m = n->next[i].node;
      if (m && m->mark != mark) {
        m->mark = mark;
        if (list_push(&stack, m) < 0) goto fail;
      }
    }
  }
  free(stack.nodes);
  if (out->n > 1)   /* (no nodes: nodes is NULL, which qsort may not take) */
    qsort(out->nodes, (size_t)out->n, sizeof *out->nodes, by_seq_desc);
  return 0;
fail:
  free(stack.nodes);
  return -1;
}

/* *acc += g (differentiably when building a graph). Takes g's reference. */
static int accumulate(bt_Tensor **acc, bt_Tensor *g) {
  if (!*acc) {
    *acc = g;
    return 0;
  }
  bt_Tensor *s = bt_add(*acc, g);
  bt_release(g);
  if (!s) return -1;
  bt_release(*acc);
  *acc = s;
  return 0;
}

/* Reduces g to the edge's shape and dtype. Takes g's reference. */
static bt_Tensor *fit_to_edge(bt_Tensor *g, const bt_Edge *e, const bt_Node *n) {
  if (!bt_shape_eq(g, e->ndim, e->shape)) {
    bt_Tensor *r = bt_sum_to(g, e->ndim, e->shape);
    if (!r)
      bt_seterr("%s: gradient of shape %s does not reduce to its input's shape %s", n->name,
                bt_shp(g), bt_shpn(e->ndim, e->shape));
    bt_release(g);
    if (!r) return NULL;
    g = r;
  }
  if (g->dtype != e->dtype) {
    bt_Tensor *r = bt_to_dtype(g, e->dtype);
    bt_release(g);
    g = r;
  }
  return g;
}

static int check_saved(const bt_Node *n) {
  /* Nodes that never saved anything may run again; others may not. */
  for (int i = 0; i < n->n_saved; i++) {
    bt_Tensor *s = n->saved[i];
    if (s && s->storage->version != n->saved_version[i])
      return bt_seterr("backward: a tensor of shape %s saved by %s was modified in place "
                       "after it was used (version %u, now %u); use clone() before changing it",
                       bt_shp(s), n->name, n->saved_version[i], s->storage->version);
  }
  if (n->save_overflow)
    return bt_seterr("backward: %s saved more than %d tensors (an engine bug)", n->name,
                     BT_NODE_MAX_SAVED);
  if (n->released && (n->n_saved > 0 || n->free_extra))
    return bt_seterr("backward: %s's saved tensors were already freed by an earlier backward; "
                     "pass retain_graph = true to the first backward to go through the graph again",
                     n->name);
  return 0;
}

static bool has_nonfinite(const bt_Tensor *g) {
  if (!bt_dtype_is_float(g->dtype) || g->storage->device.type != BT_CPU) return false;
  int64_t n = bt_numel(g);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(bt_get_flat(g, i))) return true;
  return false;
}

static int anomaly_error(const bt_Node *n, int input) {
  return bt_seterr("autograd anomaly: %s returned NaN or Inf in the gradient of its input %d%s%s",
                   n->name, input + 1, n->trace ? "; the op was created at:\n" : "",
                   n->trace ? n->trace : "");
}

/* A gradient for a leaf, owned and of the leaf's shape: clone it when it
** shares storage with anything, since later backwards add to it in place. */
static bt_Tensor *own_grad(bt_Tensor *g) {
  if (g->refcount == 1 && g->storage->refcount == 1 && bt_is_contiguous(g)) return g;
  bt_Tensor *c = bt_clone(g);
  bt_release(g);
  return c;
}

/* Adds g (taken) to leaf->grad; the leaf's hooks have already run. */
static int accumulate_leaf(bt_Tensor *leaf, bt_Tensor *g, bool create_graph) {
  if (!leaf->grad) {
    leaf->grad = create_graph ? g : own_grad(g);
    return leaf->grad ? 0 : -1;
  }
  if (!create_graph && !leaf->grad->requires_grad) {
    int r = bt_binary_(BT_ADD, leaf->grad, g);   /* in place, as PyTorch does */
    bt_release(g);
    return r;
  }
  return accumulate(&leaf->grad, g);
}

typedef struct {
  int ni;
  bt_Tensor *const *inputs;
  bt_Tensor **captured;
} Targets;

/* Gradients reaching leaves during a pass, summed per leaf so that a leaf's
** hooks see its whole gradient once, after every contribution arrived. */
typedef struct {
  bt_Tensor *leaf, *grad;
} LeafGrad;

typedef struct {
  const Targets *targets;
  LeafGrad *leaves;
  int64_t nleaves, capleaves;
  bool create_graph;
} Pass;

/* Takes g. Leaves that bt_grad does not ask for are dropped. */
static int leaf_gradient(Pass *p, bt_Tensor *leaf, bt_Tensor *g) {
  if (p->targets) {
    bool wanted = false;
    for (int i = 0; i < p->targets->ni; i++)
      if (p->targets->inputs[i] == leaf) wanted = true;
    if (!wanted) {
      bt_release(g);
      return 0;
    }
  }
  for (int64_t i = p->nleaves - 1; i >= 0; i--)
    if (p->leaves[i].leaf == leaf) return accumulate(&p->leaves[i].grad, g);
  if (p->nleaves == p->capleaves) {
    int64_t cap = p->capleaves ? 2 * p->capleaves : 16;
    LeafGrad *l = realloc(p->leaves, (size_t)cap * sizeof *l);
    if (!l) {
      bt_release(g);
      return bt_seterr("backward: out of memory");
    }
    p->leaves = l;
    p->capleaves = cap;
  }
  p->leaves[p->nleaves++] = (LeafGrad){leaf, g};
  return 0;
}

/* Runs each leaf's hooks on its summed gradient, then stores it. */
static int finish_leaves(Pass *p) {
  for (int64_t i = 0; i < p->nleaves; i++) {
    LeafGrad *lg = &p->leaves[i];
    bt_Tensor *g = lg->grad;
    lg->grad = NULL;
    if (run_hooks(lg->leaf->hooks, &g) < 0) {
      bt_release(g);
      return -1;
    }
    if (p->targets) {
      for (int t = 0; t < p->targets->ni; t++)
        if (p->targets->inputs[t] == lg->leaf) {
          bt_retain(g);
          if (accumulate(&p->targets->captured[t], g) < 0) {
            bt_release(g);
            return -1;
          }
        }
      bt_release(g);
    } else if (accumulate_leaf(lg->leaf, g, p->create_graph) < 0) {
      return -1;
    }
  }
  return 0;
}

static void free_leaves(Pass *p) {
  for (int64_t i = 0; i < p->nleaves; i++) bt_release(p->leaves[i].grad);
  free(p->leaves);
}

static int target_of_leaf(const Targets *t, const bt_Tensor *leaf) {
  for (int i = 0; t && i < t->ni; i++)
    if (t->inputs[i] == leaf) return i;
  return -1;
}

/* Marks (mark = 2) nodes that lead to a target input; mark = 1 otherwise. */
static void mark_needed(const NodeList *l, const Targets *t) {
  for (int64_t k = l->n - 1; k >= 0; k--) {   /* increasing creation order */
    bt_Node *n = l->nodes[k];
    bool needed = false;
    for (int i = 0; t && i < t->ni; i++)
      if (t->inputs[i]->grad_fn == n) needed = true;
    for (int i = 0; i < n->n_next && !needed; i++) {
      const bt_Edge *e = &n->next[i];
      if ((e->node && e->node->mark == 2) || (e->leaf && target_of_leaf(t, e->leaf) >= 0))
        needed = true;
    }
    n->mark = needed ? 2 : 1;
  }
}

static int run_node(bt_Node *n, Pass *pass) {
  const Targets *targets = pass->targets;
  bt_Tensor *g = n->buffer;
  n->buffer = NULL;
  int rc = -1;
  bt_Tensor *gin[16] = {0};
  bt_Tensor **gins = n->n_next <= 16 ? gin : calloc((size_t)n->n_next, sizeof *gins);
  if (!gins) {
    bt_release(g);
    return bt_seterr("backward: out of memory");
  }
  if (run_hooks(n->hooks, &g) < 0) goto done;
  for (int i = 0; targets && i < targets->ni; i++)
    if (targets->inputs[i]->grad_fn == n) {
      bt_retain(g);
      if (accumulate(&targets->captured[i], g) < 0) goto done;
    }
  if (check_saved(n) < 0) goto done;
  if (n->backward(n, g, gins) < 0) goto done;
  for (int i = 0; i < n->n_next; i++) {
    bt_Edge *e = &n->next[i];
    bt_Tensor *gi = gins[i];
    gins[i] = NULL;
    if (!gi) continue;
    if (!e->node && !e->leaf) {
      bt_release(gi);
      continue;
    }
    if (!(gi = fit_to_edge(gi, e, n))) goto done;
    if (anomaly_mode && has_nonfinite(gi)) {
      bt_release(gi);
      anomaly_error(n, i);
      goto done;
    }
    if (e->node) {
      if (e->node->mark != 2) bt_release(gi);
      else if (accumulate(&e->node->buffer, gi) < 0) goto done;
    } else if (leaf_gradient(pass, e->leaf, gi) < 0) {
      goto done;
    }
  }
  rc = 0;
done:
  for (int i = 0; i < n->n_next; i++) bt_release(gins[i]);
  if (gins != gin) free(gins);
  bt_release(g);
  return rc;
}

/* The shared body of bt_backward (targets NULL: accumulate into leaves) and
** bt_grad (targets: capture gradients of the inputs). */
static int run_backward(int no, bt_Tensor *const *outputs, bt_Tensor *const *grad_outputs,
                        const Targets *targets, const bt_BackwardOpts *opts) {
  bool create_graph = opts && opts->create_graph;
  bool retain = opts && (opts->retain_graph || opts->create_graph);
  const char *op = targets ? "grad" : "backward";
  bool prev_mode = bt_set_grad_enabled(create_graph);
  bool prev_cg = in_create_graph;
  in_create_graph = create_graph;
  /* Backward rules call ops, which autocast would recast: the gradients
  ** keep the dtypes the forward gave them (PyTorch's engine runs backward
  ** with autocast off too). */
  bool ac_on[2] = {bt_autocast_enabled(BT_CPU), bt_autocast_enabled(BT_CUDA)};
  bt_DType ac_dt[2] = {bt_autocast_dtype(BT_CPU), bt_autocast_dtype(BT_CUDA)};
  bt_autocast_set(BT_CPU, false, ac_dt[0]);
  bt_autocast_set(BT_CUDA, false, ac_dt[1]);
  NodeList nodes = {0};
  Pass pass = {.targets = targets, .create_graph = create_graph};
  bt_Node **roots = calloc((size_t)(no ? no : 1), sizeof *roots);
  int rc = -1;
  if (!roots) {
    bt_seterr("backward: out of memory");
    goto out;
  }
  for (int i = 0; i < no; i++) {
    bt_Tensor *y = outputs[i];
    if (!y->requires_grad) {
      bt_seterr("%s: output %d (shape %s) does not require grad and has no grad_fn; "
                "did you compute it inside no_grad, or from tensors without requires_grad?",
                op, i + 1, bt_shp(y));
      goto out;
    }
    bt_Tensor *g = grad_outputs ? grad_outputs[i] : NULL;
    if (g) {
      if (!bt_same_shape(g, y)) {
        bt_seterr("%s: gradient of shape %s given for an output of shape %s", op, bt_shp(g),
                  bt_shp(y));
        goto out;
      }
      bt_retain(g);
    } else {
      if (bt_numel(y) != 1) {
        bt_seterr("%s: output %d has shape %s; an implicit gradient needs a single element "
                  "(pass %s of the same shape)", op, i + 1, bt_shp(y),
                  targets ? "opts.grad_outputs: one gradient tensor per output" : "a gradient tensor");
        goto out;
      }
      if (!(g = bt_ones_like(y))) goto out;
    }
    roots[i] = y->grad_fn;
    if (roots[i]) {
      if (accumulate(&roots[i]->buffer, g) < 0) goto out;
    } else if (leaf_gradient(&pass, y, g) < 0) {
      goto out;
    }
  }
  if (collect(no, roots, &nodes) < 0) goto out;
  if (targets) {
    mark_needed(&nodes, targets);
  } else {
    for (int64_t k = 0; k < nodes.n; k++) nodes.nodes[k]->mark = 2;
  }
  for (int64_t k = 0; k < nodes.n; k++) {
    bt_Node *n = nodes.nodes[k];
    if (!n->buffer || n->mark != 2) continue;
    if (bt_interrupted()) {
      bt_seterr("backward: interrupted");
      goto out;
    }
    if (run_node(n, &pass) < 0) goto out;
    if (!retain) release_saved(n);
  }
  if (finish_leaves(&pass) < 0) goto out;
  rc = 0;
out:
  for (int64_t k = 0; k < nodes.n; k++) {   /* buffers never outlive a pass */
    bt_release(nodes.nodes[k]->buffer);
    nodes.nodes[k]->buffer = NULL;
  }
  if (rc < 0) {
    for (int i = 0; i < no; i++)
      if (roots && roots[i]) {
        bt_release(roots[i]->buffer);
        roots[i]->buffer = NULL;
      }
  }
  free_leaves(&pass);
  free(nodes.nodes);
  free(roots);
  bt_set_grad_enabled(prev_mode);
  in_create_graph = prev_cg;
  bt_autocast_set(BT_CPU, ac_on[0], ac_dt[0]);
  bt_autocast_set(BT_CUDA, ac_on[1], ac_dt[1]);
  return rc;
}

int bt_backward(int n, bt_Tensor *const *outputs, bt_Tensor *const *grad_outputs,
                const bt_BackwardOpts *opts) {
  return run_backward(n, outputs, grad_outputs, NULL, opts);
}

int bt_grad(int no, bt_Tensor *const *outputs, bt_Tensor *const *grad_outputs, int ni,
            bt_Tensor *const *inputs, bt_Tensor **grads, const bt_BackwardOpts *opts) {
  for (int i = 0; i < ni; i++) {
    grads[i] = NULL;
    if (!inputs[i]->requires_grad)
      return bt_seterr("grad: input %d (shape %s) does not require grad", i + 1,
                       bt_shp(inputs[i]));
  }
  Targets t = {ni, inputs, grads};
  if (run_backward(no, outputs, grad_outputs, &t, opts) < 0) goto fail;
  for (int i = 0; i < ni; i++) {
    if (grads[i]) continue;
    if (!(opts && opts->allow_unused)) {
      bt_seterr("grad: input %d (shape %s) is not used to compute the outputs "
                "(pass allow_unused = true to get zeros)", i + 1, bt_shp(inputs[i]));
      goto fail;
    }
    if (!(grads[i] = bt_zeros_like(inputs[i]))) goto fail;
  }
  return 0;
fail:
  for (int i = 0; i < ni; i++) {
    bt_release(grads[i]);
    grads[i] = NULL;
  }
  return -1;
}
