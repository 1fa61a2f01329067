/* commands.h — entry points of the subcommands (one cmd_<name>.c each). */
#ifndef GPUOPS_CMD_COMMANDS_H
#define GPUOPS_CMD_COMMANDS_H

int cmd_devices(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_dossier(int argc, char **argv);
int cmd_sim(int argc, char **argv);

#endif
