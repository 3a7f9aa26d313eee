/* An MPI hello world for the MPI launcher tests: each rank prints one line
 *   rank=R size=S node=NODE cpus=CPUS_ALLOWED_LIST
 * (NODE is SLURMD_NODENAME under Slurm, else the hostname), writes its pid to the file
 * pid.R in its working directory, and then, as told by its arguments:
 *   exit CODE [RANK]  rank RANK (default: every rank) exits with CODE after MPI_Finalize
 *                     (after it, so that the MPI runtime does not kill the other ranks);
 *   wait              every rank prints, then blocks (in no MPI call) until it is killed.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cpus_allowed(char *out, size_t size) {
    char line[512];
    FILE *f = fopen("/proc/self/status", "r");
    snprintf(out, size, "?");
    if (f == NULL) return;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
            char *v = line + 18;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, size, "%s", v);
            break;
        }
    }
    fclose(f);
}

int main(int argc, char **argv) {
    int rank, size;
    char node[256], cpus[256], pidfile[64];
    const char *slurm = getenv("SLURMD_NODENAME");
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (slurm != NULL && slurm[0] != '\0') snprintf(node, sizeof node, "%s", slurm);
    else if (gethostname(node, sizeof node) != 0) snprintf(node, sizeof node, "?");
    node[sizeof node - 1] = '\0';
    cpus_allowed(cpus, sizeof cpus);
    snprintf(pidfile, sizeof pidfile, "pid.%d", rank);
    FILE *p = fopen(pidfile, "w");
    if (p != NULL) {
        fprintf(p, "%ld\n", (long)getpid());
        fclose(p);
    }
    printf("rank=%d size=%d node=%s cpus=%s\n", rank, size, node, cpus);
    fflush(stdout);
    MPI_Barrier(MPI_COMM_WORLD);
    if (argc >= 2 && strcmp(argv[1], "wait") == 0) {
        for (;;) pause();
    }
    MPI_Finalize();
    if (argc >= 3 && strcmp(argv[1], "exit") == 0) {
        if (argc < 4 || atoi(argv[3]) == rank) return atoi(argv[2]);
    }
    return 0;
}
