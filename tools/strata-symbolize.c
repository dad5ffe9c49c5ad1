/* SPDX-License-Identifier: MIT */
/*
 * strata-symbolize - names of functions and source lines for the
 * addresses of strata's reports, from the modules' debug information,
 * through elfutils' libdwfl.  It runs beside the program, never inside
 * it: the allocator itself only ever prints what dladdr finds.
 *
 *   strata-symbolize [-p PID] [ADDRESS... | MODULE OFFSET...]
 *
 * With -p, each input is an address in the running process PID (its
 * modules come from /proc/PID/maps); without, each is a module's file
 * and an offset from where it was loaded, as the reports print them
 * ("module" and "offset" of the JSON report, MODULE+0xOFFSET of the text
 * one).  Inputs are the arguments, or else the lines of standard input;
 * for each, one line comes out, as soon as it is read:
 *
 *   FUNCTION FILE:LINE              the function holding the address, and
 *                                   the source line
 *   FUNCTION FILE:LINE < OUTER ...  code inlined into OUTER, innermost
 *                                   first, each with its line
 *   FUNCTION                        a symbol, but no line information
 *   ??                              nothing known
 *
 * Give the address of the call, not the return address a stack holds
 * (subtract 1).  Debug information is found as addr2line finds it:
 * in the module itself, through its build ID under
 * /usr/lib/debug/.build-id/ (Debian's -dbgsym packages), or through its
 * .gnu_debuglink section, beside the module, in its .debug directory or
 * under /usr/lib/debug.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A line of input: a path and an offset, or an address. */
#define LINE_MAX_BYTES 4096
/* Offline modules are laid out at multiples of this, one slot each, so
 * that no two overlap (a module's image is far smaller). */
#define MODULE_SLOT ((GElf_Addr)1 << 36)
/* Inlined levels printed for one address, at most. */
#define INLINE_MAX 8

static char *debuginfo_path;

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

static void usage(void)
{
	fputs("usage: strata-symbolize [-p PID] [ADDRESS... | MODULE OFFSET...]\n"
	      "  -p PID   addresses in the running process PID; otherwise MODULE OFFSET\n"
	      "           pairs, offsets from where each module was loaded\n"
	      "  inputs from the arguments, else one a line from standard input;\n"
	      "  one line out for each: FUNCTION FILE:LINE [< OUTER FILE:LINE...], or ??\n",
	      stderr);
}

/* ------------------------------------------------------------------------
 * Offline modules: each file reported once, at its own slot
 * ---------------------------------------------------------------------- */
struct offline {
	Dwfl       *dwfl;
	unsigned    nslots;
	const char *last_path; /* the last module found, and its start */
	GElf_Addr   last_start;
};

/* Where the file's image starts in the layout: its bias plus the first
 * loadable segment's address, page-aligned, which is what dladdr calls
 * the module's base (the offsets of the reports are counted from it). */
static GElf_Addr module_start(Dwfl_Module *mod)
{
	GElf_Addr bias;
	Elf      *elf = dwfl_module_getelf(mod, &bias);
	size_t    n;
	GElf_Addr first = 0;
	if (elf == NULL || elf_getphdrnum(elf, &n) != 0)
		return bias;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr mem, *ph = gelf_getphdr(elf, (int)i, &mem);
		if (ph != NULL && ph->p_type == PT_LOAD) {
			first = ph->p_vaddr & ~(GElf_Addr)4095;
			break;
		}
	}
	return bias + first;
}

struct find_arg {
	const char  *path;
	Dwfl_Module *found;
};

static int find_module(Dwfl_Module *mod, void **user, const char *name, Dwarf_Addr start, void *arg)
{
	(void)user;
	(void)start;
	struct find_arg *fa = arg;
	if (strcmp(name, fa->path) != 0)
		return DWARF_CB_OK;
	fa->found = mod;
	return DWARF_CB_ABORT;
}

/* The module of path, reported now if it was not yet; NULL if it cannot
 * be read. */
static Dwfl_Module *offline_module(struct offline *o, const char *path)
{
	struct find_arg fa = { .path = path };
	dwfl_getmodules(o->dwfl, find_module, &fa, 0);
	if (fa.found != NULL)
		return fa.found;
	dwfl_report_begin_add(o->dwfl);
	Dwfl_Module *mod = dwfl_report_elf(o->dwfl, path, path, -1, (o->nslots + 1) * MODULE_SLOT,
	                                   false);
	dwfl_report_end(o->dwfl, NULL, NULL);
	if (mod != NULL)
		o->nslots++;
	return mod;
}

/* ------------------------------------------------------------------------
 * Names and lines
 * ---------------------------------------------------------------------- */

/* A DIE's name, through its abstract origin or specification. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char     *name = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) != NULL
	    || dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr) != NULL)
		name = dwarf_formstring(&attr);
	if (name == NULL)
		name = dwarf_diename(die);
	if (name == NULL && dwarf_attr_integrate(die, DW_AT_name, &attr) != NULL)
		name = dwarf_formstring(&attr);
	return name;
}

/* The file an inlined call sits in, from the CU's file table. */
static const char *call_file(Dwarf_Die *cudie, Dwarf_Die *inlined)
{
	Dwarf_Attribute attr;
	Dwarf_Word      index;
	Dwarf_Files    *files;
	size_t          nfiles;
	if (dwarf_attr(inlined, DW_AT_call_file, &attr) == NULL || dwarf_formudata(&attr, &index)
	    || dwarf_getsrcfiles(cudie, &files, &nfiles) != 0 || index >= nfiles)
		return NULL;
	return dwarf_filesrc(files, index, NULL, NULL);
}

static int call_line(Dwarf_Die *inlined)
{
	Dwarf_Attribute attr;
	Dwarf_Word      line;
	if (dwarf_attr(inlined, DW_AT_call_line, &attr) == NULL || dwarf_formudata(&attr, &line))
		return 0;
	return (int)line;
}

/* A file name of the line table, relative to the compilation directory
 * when it is not absolute. */
static const char *comp_dir;

static void print_place(const char *fn, const char *file, int line)
{
	fputs(fn ? fn : "??", stdout);
	if (file == NULL || line <= 0)
		return;
	if (file[0] != '/' && comp_dir != NULL)
		printf(" %s/%s:%d", comp_dir, file, line);
	else
		printf(" %s:%d", file, line);
}

/* The DIE's next enclosing function, inlined or not, into *out; false at
 * the top. */
static bool enclosing_function(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Die *parents = NULL;
	int        n = dwarf_getscopes_die(die, &parents);
	bool       found = false;
	for (int i = 1; i < n && !found; i++) {
		int tag = dwarf_tag(&parents[i]);
		if (tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram) {
			*out = parents[i];
			found = true;
		}
	}
	free(parents);
	return found;
}

/* The functions at the address from the innermost out: each inlined one
 * with its line, then the function they are inlined in with the line of
 * the call.  False when the module has no DWARF for the address. */
static bool print_scopes(Dwfl_Module *mod, GElf_Addr addr, const char *file, int line)
{
	Dwarf_Addr bias;
	Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &bias);
	Dwarf_Die *scopes = NULL, die;
	int        n = cudie ? dwarf_getscopes(cudie, addr - bias, &scopes) : -1;
	int        i = 0, printed = 0;
	while (i < n && dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine
	       && dwarf_tag(&scopes[i]) != DW_TAG_subprogram)
		i++;
	if (i < n) {
		die = scopes[i];
		for (;;) {
			if (printed++)
				fputs(" < ", stdout);
			print_place(die_name(&die), file, line);
			if (dwarf_tag(&die) != DW_TAG_inlined_subroutine || printed == INLINE_MAX)
				break;
			/* the next function out is where this one was inlined */
			file = call_file(cudie, &die);
			line = call_line(&die);
			if (!enclosing_function(&die, &die))
				break;
		}
	}
	free(scopes);
	return printed > 0;
}

static void print_address(Dwfl_Module *mod, GElf_Addr addr)
{
	const char *file = NULL;
	int         line = 0;
	if (mod == NULL) {
		puts("??");
		return;
	}
	Dwfl_Line *l = dwfl_module_getsrc(mod, addr);
	comp_dir = NULL;
	if (l != NULL) {
		file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
		comp_dir = dwfl_line_comp_dir(l);
	}
	if (!print_scopes(mod, addr, file, line)) {
		GElf_Off    off;
		GElf_Sym    sym;
		const char *name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
		print_place(name, file, line);
	}
	putchar('\n');
}

/* ------------------------------------------------------------------------
 * Inputs
 * ---------------------------------------------------------------------- */
static bool parse_number(const char *text, GElf_Addr *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (end == text || *end != '\0' || errno != 0)
		return false;
	*out = (GElf_Addr)v;
	return true;
}

static void resolve_pid(Dwfl *dwfl, const char *text)
{
	GElf_Addr addr;
	if (!parse_number(text, &addr)) {
		puts("??");
		return;
	}
	print_address(dwfl_addrmodule(dwfl, addr), addr);
}

static void resolve_offline(struct offline *o, const char *path, const char *offset)
{
	GElf_Addr    off;
	Dwfl_Module *mod = parse_number(offset, &off) ? offline_module(o, path) : NULL;
	if (mod == NULL) {
		puts("??");
		return;
	}
	print_address(mod, module_start(mod) + off);
}

/* A line of standard input: "ADDRESS", or "MODULE OFFSET" (the module's
 * path may hold spaces: the offset is the last word). */
static void resolve_line(Dwfl *dwfl, struct offline *o, char *line)
{
	line[strcspn(line, "\n")] = '\0';
	if (o == NULL) {
		resolve_pid(dwfl, line + strspn(line, " \t"));
		return;
	}
	char *sp = strrchr(line, ' ');
	if (sp == NULL) {
		puts("??");
		return;
	}
	*sp = '\0';
	resolve_offline(o, line, sp + 1);
}

int main(int argc, char **argv)
{
	long pid = 0;
	int  first = 1;
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage();
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "-p") == 0) {
		pid = strtol(argv[2], NULL, 10);
		first = 3;
		if (pid <= 0) {
			usage();
			return 2;
		}
	}
	Dwfl *dwfl = dwfl_begin(pid ? &proc_callbacks : &offline_callbacks);
	if (dwfl == NULL) {
		fprintf(stderr, "strata-symbolize: %s\n", dwfl_errmsg(-1));
		return 2;
	}
	struct offline off = { .dwfl = dwfl };
	if (pid) {
		dwfl_report_begin(dwfl);
		if (dwfl_linux_proc_report(dwfl, (pid_t)pid) != 0) {
			fprintf(stderr,
			        "strata-symbolize: cannot read the modules of process %ld\n", pid);
			return 2;
		}
		dwfl_report_end(dwfl, NULL, NULL);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (first < argc) {
		for (int i = first; i < argc; i++) {
			if (pid)
				resolve_pid(dwfl, argv[i]);
			else if (i + 1 < argc)
				resolve_offline(&off, argv[i], argv[i + 1]), i++;
			else
				puts("??");
		}
	} else {
		char line[LINE_MAX_BYTES];
		while (fgets(line, sizeof(line), stdin) != NULL)
			resolve_line(dwfl, pid ? NULL : &off, line);
	}
	dwfl_end(dwfl);
	return 0;
}
