/* SPDX-License-Identifier: MIT */
/*
 * faultline status: what faultline has in the kernel now, per namespace,
 * from the journals: the run, its active faults, its live objects.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include "cli.h"
#include "journal/journal.h"
#include "util/strbuf.h"

struct status_opts {
	const char *run_dir;
	bool json;
};

static int on_option(const char *name, const char *arg, void *userdata)
{
	struct status_opts *o = userdata;

	if (strcmp(name, "run-dir") == 0)
		o->run_dir = arg;
	else if (strcmp(name, "json") == 0)
		o->json = true;
	return 0;
}

int fl_cmd_status(int argc, char **argv)
{
	struct status_opts o = { .run_dir = FL_RUN_DIR };
	int i = fl_cli_parse_options("status", argc, argv, on_option, &o);
	struct fl_strbuf sb = { 0 };
	size_t n = 0;
	bool leftovers = false;
	DIR *d;
	struct dirent *de;

	if (i < 0)
		return FL_EXIT_INPUT;
	if (i < argc)
		return fl_cli_usage_error("status", "unexpected argument '%s'", argv[i]);
	if (o.json)
		fl_strbuf_append(&sb, "{\"namespaces\":[");
	d = opendir(o.run_dir);
	while (d && (de = readdir(d))) {
		_cleanup_(fl_journal_freep) struct fl_journal *j = NULL;
		char path[4096], buf[64];
		size_t len = strlen(de->d_name);
		bool up;

		if (len < 9 || strcmp(de->d_name + len - 8, ".journal") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", o.run_dir, de->d_name);
		if (fl_journal_load(path, &j) < 0)
			continue;
		up = fl_pid_alive(j->pid);
		if (!up && j->n_roots == 0)
			continue; /* a run that died before its first fault: nothing in the kernel */
		leftovers |= !up && j->n_roots;
		if (o.json) {
			fl_strbuf_append(&sb, n ? ",{" : "{");
			fl_strbuf_append(&sb, "\"netns\":");
			fl_strbuf_append_json(&sb, j->netns ? j->netns : "");
			fl_strbuf_append(&sb, ",\"scenario\":");
			fl_strbuf_append_json(&sb, j->scenario ? j->scenario : "");
			fl_strbuf_appendf(&sb, ",\"pid\":%d,\"running\":%s,\"faults\":[", j->pid,
					  up ? "true" : "false");
			bool first = true;
			for (size_t k = 0; k < j->n_faults; k++)
				if (j->faults[k].on) {
					fl_strbuf_append(&sb, first ? "" : ",");
					fl_strbuf_append_json(&sb, j->faults[k].id);
					first = false;
				}
			fl_strbuf_append(&sb, "],\"objects\":[");
			for (size_t k = 0; k < j->n_roots; k++) {
				fl_strbuf_append(&sb, k ? "," : "");
				fl_strbuf_append_json(&sb, fl_root_to_string(&j->roots[k], buf));
			}
			fl_strbuf_append(&sb, "]}");
		} else {
			fl_strbuf_appendf(&sb, "netns %s: scenario '%s', run %d (%s)\n",
					  j->netns ? j->netns : "?", j->scenario ? j->scenario : "?",
					  j->pid, up ? "running" : "gone: run 'faultline recover'");
			fl_strbuf_append(&sb, "  active faults:");
			bool any = false;
			for (size_t k = 0; k < j->n_faults; k++)
				if (j->faults[k].on) {
					fl_strbuf_appendf(&sb, " %s", j->faults[k].id);
					any = true;
				}
			fl_strbuf_append(&sb, any ? "\n" : " none\n");
			for (size_t k = 0; k < j->n_roots; k++)
				fl_strbuf_appendf(&sb, "  %s\n", fl_root_to_string(&j->roots[k], buf));
		}
		n++;
	}
	if (d)
		closedir(d);
	if (o.json)
		fl_strbuf_append(&sb, "]}\n");
	else if (n == 0)
		fl_strbuf_append(&sb, "no faults: faultline has nothing in the kernel\n");
	_cleanup_free_ char *text = fl_strbuf_steal(&sb);
	if (!text)
		return FL_EXIT_SYSTEM;
	fputs(text, stdout);
	return leftovers ? FL_EXIT_FAILED : FL_EXIT_OK;
}
