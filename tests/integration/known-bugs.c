/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "known-bugs.h"
#include "plan/plan.h"

bool it_strict;
static unsigned allowed;

static const char *const names[] = {
	[IT_BUG_REJECT_UDP_EPERM] = "reject-udp-eperm",
	[IT_BUG_U32_HASHMASK] = "u32-hashmask",
	[IT_BUG_U32_NOT_TERMINAL] = "u32-not-terminal",
	[IT_BUG_U32_TABLE_LEAK] = "u32-table-leak",
	[IT_BUG_RECOVER_SWEEPS_LIVE] = "recover-sweeps-live",
};

void it_known_bugs_args(int *argc, char **argv)
{
	if (*argc > 1 && strcmp(argv[*argc - 1], "--known-bugs") == 0) {
		it_strict = true;
		argv[--*argc] = NULL;
	}
}

void it_allow_known_bug(enum it_bug b)
{
	allowed |= 1u << b;
}

int it_known_bug_from_name(const char *name, enum it_bug *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(names[i], name) == 0) {
			*ret = (enum it_bug)i;
			return 0;
		}
	return -EINVAL;
}

void it_known_bug(enum it_bug b, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (it_strict)
		it_fail("known bug %s: %s", names[b], msg);
	if (!(allowed & (1u << b)))
		it_fail("known bug %s, not declared for this test: %s", names[b], msg);
	it_log("KNOWN BUG %s (tolerated; --known-bugs fails on it): %s", names[b], msg);
}

static const char *const hooks[] = { "egress", "ingress" };

bool it_bug_hashmask_present(const struct topo *t, char *where, size_t len)
{
	for (int i = 0; i < IT_N_SERVERS; i++)
		for (int h = 0; h < 2; h++) {
			_cleanup_free_ char *out = NULL;
			const char *m;

			topo_sh(t->client_ns, &out, "tc filter show dev %s %s", t->srv[i].dev,
				hooks[h]);
			for (m = out ? strstr(out, "hash mask ") : NULL; m;
			     m = strstr(m + 1, "hash mask ")) {
				/* The last byte of the 32-bit word: "hash mask 000000ff". */
				if (strncmp(m, "hash mask 000000ff", 18) != 0) {
					snprintf(where, len, "%s %s: %.*s", t->srv[i].dev, hooks[h],
						 (int)strcspn(m, "\n"), m);
					return true;
				}
			}
		}
	return false;
}

bool it_bug_not_terminal_present(const struct topo *t, char *where, size_t len)
{
	const unsigned lo = FL_TC_HTID(0, 0, 0), hi = FL_TC_HTID(1, 1, 1);

	for (int i = 0; i < IT_N_SERVERS; i++)
		for (int h = 0; h < 2; h++) {
			_cleanup_free_ char *out = NULL;

			topo_sh(t->client_ns, &out, "tc filter show dev %s %s", t->srv[i].dev,
				hooks[h]);
			for (char *line = out, *next; line && *line; line = next) {
				size_t n = strcspn(line, "\n");
				unsigned long htid, node;
				unsigned pref = 0;
				char *fh, *p;

				next = line[n] ? line + n + 1 : line + n;
				line[n] = '\0';
				fh = strstr(line, " fh ");
				if (!fh || sscanf(line, "filter protocol %*s pref %u", &pref) != 1)
					continue;
				htid = strtoul(fh + 4, &p, 16);
				if (*p != ':')
					continue;
				strtoul(p + 1, &p, 16);
				if (*p != ':')
					continue;
				node = strtoul(p + 1, &p, 16);
				/*
				 * Knodes that must end classification: entries in our tables
				 * (redirects) and nodes at our pass priorities (exclusions).
				 * tc(8) prints "terminal", or "*flowid" for a terminal classid.
				 */
				bool entry = htid >= lo && htid <= hi;
				bool pass = pref == FL_TC_PRIO_PASS4 || pref == FL_TC_PRIO_PASS6;
				if (!node || !(entry || pass))
					continue;
				if (!strstr(fh, "terminal") && !strstr(fh, "*flowid")) {
					snprintf(where, len, "%s %s, %s:%s", t->srv[i].dev,
						 hooks[h],
						 entry ? "a redirect entry" : "an exclusion", fh);
					return true;
				}
			}
		}
	return false;
}

unsigned it_leaked_u32_tables(const struct topo *t, const char *dev, char *where, size_t len)
{
	static const unsigned prios[] = { FL_TC_PRIO_PASS4, FL_TC_PRIO_PASS6, FL_TC_PRIO_HASH4,
					  FL_TC_PRIO_HASH6 };
	/* One bit per u32 table id (12 bits): each table counted once, whichever probe shows it. */
	uint64_t seen[(FL_TC_MAX_NODE + 1) / 64] = {0};
	unsigned n = 0;

	where[0] = '\0';
	for (int h = 0; h < 2; h++)
		for (size_t p = 0; p < ELEMENTSOF(prios); p++) {
			_cleanup_free_ char *out = NULL;
			const char *m;
			int r;

			/* Only where none of ours is: the probe must not touch a live priority. */
			r = topo_sh(
				t->client_ns, &out,
				"if [ -n \"$(tc filter show dev %s %s prio %u)\" ]; then exit 3; "
				"fi; "
				"tc filter add dev %s %s protocol all prio %u u32 match u32 0 0 at "
				"0 classid :9 || exit 4; "
				"tc filter show dev %s %s prio %u; tc filter del dev %s %s prio %u",
				dev, hooks[h], prios[p], dev, hooks[h], prios[p], dev, hooks[h],
				prios[p], dev, hooks[h], prios[p]);
			if (r != 0 || !out)
				continue;
			/* A table's line: "... fh 7e4: ht divisor 256". */
			for (m = strstr(out, " fh "); m; m = strstr(m + 1, " fh ")) {
				size_t line = strcspn(m, "\n");
				unsigned htid;
				char colon;
				const char *div = strstr(m, "ht divisor");

				if (sscanf(m, " fh %x%c", &htid, &colon) != 2 || colon != ':' ||
				    htid > FL_TC_MAX_NODE || !fl_tc_our_htid(htid) || !div ||
				    div > m + line || (seen[htid / 64] & (1ull << (htid % 64))))
					continue;
				seen[htid / 64] |= 1ull << (htid % 64);
				if (n == 0)
					snprintf(where, len, "%s %s prio %u:%.*s", dev, hooks[h],
						 prios[p], (int)line, m);
				n++;
			}
		}
	return n;
}
