/* SPDX-License-Identifier: MIT */
/*
 * report.h - the heap report (text, JSON, Prometheus) and the reports
 * strata writes on its own: at exit and to the stats file.
 */
#ifndef STRATA_REPORT_H
#define STRATA_REPORT_H

#include "internal.h"
#include "strata.h"

int  report_write(int fd, enum strata_format format, unsigned what);
void report_init(void);
void report_at_exit(void);
void report_stats_file_start(void);

#endif
