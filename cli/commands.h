/* commands.h — the entry points of the commands that share the
 * traceshim-view executable (see view.c): each takes its own argv, with
 * argv[0] the command's name, and returns its exit status. */
#ifndef TS_COMMANDS_H
#define TS_COMMANDS_H

int ts_html_main(int argc, char **argv);
int ts_stats_main(int argc, char **argv);

#endif
