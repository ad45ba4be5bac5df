/* The monotonic clock every timing in lstmc reads (pass times, compile phases, training progress). */
#ifndef LSTMC_SUPPORT_CLOCK_H
#define LSTMC_SUPPORT_CLOCK_H

/* Seconds from an arbitrary fixed point (CLOCK_MONOTONIC). */
double now_seconds(void);

#endif
