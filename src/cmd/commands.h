/* commands.h — entry points of the subcommands (one cmd_<name>.c each). */
#ifndef GPUOPS_CMD_COMMANDS_H
#define GPUOPS_CMD_COMMANDS_H

int cmd_devices(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_dossier(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_exporter(int argc, char **argv); /* telemetry: cmd_exporter.c */
int cmd_health(int argc, char **argv);   /* telemetry: cmd_health.c */
int cmd_top(int argc, char **argv);      /* telemetry: cmd_top.c */
int cmd_fleet(int argc, char **argv);    /* fleet: cmd_fleet.c (dispatches its subcommands) */
/* `gpuops fleet mig-plan`, called by cmd_fleet's dispatcher (cmd_fleet_migplan.c). */
int cmd_fleet_mig_plan(int argc, char **argv);
int cmd_bench(int argc, char **argv); /* kernels: cmd_bench.c */
int cmd_remediate(int argc, char **argv); /* maint: cmd_remediate.c */
int cmd_rollout(int argc, char **argv);  /* maint: cmd_rollout.c */
int cmd_model(int argc, char **argv);    /* serve: cmd_model.c */
int cmd_load(int argc, char **argv);     /* load: cmd_load.c */
int cmd_profile(int argc, char **argv);  /* profile: cmd_profile.c */
int cmd_serve(int argc, char **argv);    /* serve: cmd_serve.c */
int cmd_tune(int argc, char **argv);     /* load: cmd_tune.c */

#endif
