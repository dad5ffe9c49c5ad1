/* SPDX-License-Identifier: MIT */
/*
 * control.h - the control socket: a running process's heap looked into
 * from outside (tools/strata-ctl), when STRATA_CONTROL=1.
 */
#ifndef STRATA_CONTROL_H
#define STRATA_CONTROL_H

#include "internal.h"

/* Start the control thread if the control option is on, strata is
 * initialised, libc can create threads and none runs yet.  Called at the
 * end of start-up; no lock may be held. */
void control_start(void);

/* From strata's constructor: libc is up, threads may be created from now
 * on (start-up itself may run before that); starts the thread if wanted. */
void control_libc_ready(void);

/* fork's child handler: the parent's socket is not the child's; the child
 * gets a thread and a socket of its own. */
void control_after_fork_child(void);

/* At exit: the socket file goes, if this process made it. */
void control_at_exit(void);

#endif
