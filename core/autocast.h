/*
** autocast.h: how ops take part in autocast (the state and the public
** calls are in brasa.h, @section autocast; the code in autocast.c).
**
** An op of one of the two classes starts with
**
**   bt_Tensor *ac[2] = {a, b};
**   int acr = bt_autocast_args(BT_AUTOCAST_LOWER, 2, ac);
**   if (acr) return bt_autocast_done(2, ac, acr > 0 ? bt_matmul(ac[0], ac[1]) : NULL);
**
** that is, when autocast changes an argument the op calls itself again on
** the cast arguments (which autocast then leaves alone, so it recurses
** once) and releases them. When autocast is off the check is one
** thread-local read.
*/
#ifndef BRASA_AUTOCAST_H
#define BRASA_AUTOCAST_H

#include "brasa.h"

/* Replaces each args[i] (NULLs and non-tensors skipped) that autocast casts
** for an op of class cls by a new reference to its cast (differentiable).
** Returns 0 when nothing changes (args untouched, no reference taken), 1
** when some did (the caller hands args to bt_autocast_done), -1 on failure
** (args untouched, a message set). */
int bt_autocast_args(bt_AutocastClass cls, int n, bt_Tensor **args);

/* Releases the references bt_autocast_args put in args and returns r. */
bt_Tensor *bt_autocast_done(int n, bt_Tensor **args, bt_Tensor *r);

#endif
