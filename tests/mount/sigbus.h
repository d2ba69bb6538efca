/* SPDX-License-Identifier: MIT */
/*
 * A store through a mapping that the kernel may answer with SIGBUS (the
 * kernel data path, as tmpfs: a new page on a full mount), caught:
 *
 *	signal(SIGBUS, on_sigbus);            (or sigaction, SA_NODEFER)
 *	if (sigsetjmp(bus_jmp, 1)) { ...it was SIGBUS... }
 *	else armed_copy(map + off, src, n);
 *
 * A SIGBUS anywhere else still kills the program, as it should.
 */
#ifndef SPARSEFS_TEST_SIGBUS_H
#define SPARSEFS_TEST_SIGBUS_H

#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	if (bus_armed) {
		bus_armed = 0;
		siglongjmp(bus_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* memcpy into a mapping, with the SIGBUS it may fault with caught (bus_jmp). */
static inline void armed_copy(void *dst, const void *src, size_t n)
{
	bus_armed = 1;
	atomic_signal_fence(memory_order_seq_cst); /* the copy is made while armed */
	memcpy(dst, src, n);
	atomic_signal_fence(memory_order_seq_cst);
	bus_armed = 0;
}

#endif
