/* SPDX-License-Identifier: MIT */
/* Tests for src/options.c: values, STRATA_CONF, STRATA_<NAME>, bad input. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdlib.h>

#include "options.h"

Test(options, parse_values)
{
	long v;
	cr_assert(options_parse_value("42", &v));
	cr_assert_eq(v, 42);
	cr_assert(options_parse_value("-3", &v));
	cr_assert_eq(v, -3);
	cr_assert(options_parse_value("4k", &v));
	cr_assert_eq(v, 4096);
	cr_assert(options_parse_value("2M", &v));
	cr_assert_eq(v, 2 << 20);
	cr_assert(options_parse_value("1g", &v));
	cr_assert_eq(v, 1L << 30);
	cr_assert(options_parse_value("on", &v));
	cr_assert_eq(v, 1);
	cr_assert(options_parse_value("Yes", &v));
	cr_assert_eq(v, 1);
	cr_assert(options_parse_value("off", &v));
	cr_assert_eq(v, 0);
	cr_assert(options_parse_value("false", &v));
	cr_assert_eq(v, 0);
	cr_assert_not(options_parse_value("", &v));
	cr_assert_not(options_parse_value("12x", &v));
	cr_assert_not(options_parse_value("many", &v));
	cr_assert_not(options_parse_value("18014398509481986k", &v), "overflow is rejected");
	cr_assert_not(options_parse_value("9223372036854775807g", &v));
	cr_assert(options_parse_value("-2k", &v));
	cr_assert_eq(v, -2048);
}

Test(options, defaults_come_from_the_table)
{
	unsetenv("STRATA_CONF");
	unsetenv("STRATA_ARENAS");
	options_init();
	for (int i = 0; i < NUM_OPTIONS; i++) {
		cr_assert_eq(strata_option(i), _strata_option_table[i].def, "%s",
		             _strata_option_table[i].name);
		cr_assert_not_null(_strata_option_table[i].doc);
	}
}

Test(options, conf_string_and_environment, .init = cr_redirect_stderr)
{
	setenv("STRATA_CONF", "arenas=3,tcache_max=64", 1);
	setenv("STRATA_TCACHE_MAX", "32", 1);
	options_init();
	cr_assert_eq(strata_option(OPT_ARENAS), 3);
	cr_assert_eq(strata_option(OPT_TCACHE_MAX), 32, "the variable wins over STRATA_CONF");
	unsetenv("STRATA_CONF");
	unsetenv("STRATA_TCACHE_MAX");
}

Test(options, bad_value_warns_and_keeps_default, .init = cr_redirect_stderr)
{
	setenv("STRATA_ARENAS", "1000", 1);
	options_init();
	cr_assert_eq(strata_option(OPT_ARENAS), 0);
	unsetenv("STRATA_ARENAS");
	fflush(stderr);
	cr_assert_stderr_eq_str(
	        "strata: warning: bad value '1000' for option arenas (expected 0..64), using 0\n");
}

Test(options, unknown_key_warns, .init = cr_redirect_stderr)
{
	setenv("STRATA_CONF", "colour=blue,tcache=off", 1);
	options_init();
	cr_assert_eq(strata_option(OPT_TCACHE), 0, "known keys still apply");
	unsetenv("STRATA_CONF");
	cr_assert_stderr_eq_str("strata: warning: unknown option 'colour' ignored\n");
}

Test(options, unknown_variable_warns, .init = cr_redirect_stderr)
{
	setenv("STRATA_NO_SUCH_THING", "1", 1);
	options_init();
	unsetenv("STRATA_NO_SUCH_THING");
	cr_assert_stderr_eq_str("strata: warning: unknown option 'NO_SUCH_THING' ignored\n");
}
