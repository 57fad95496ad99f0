/* tools/nabla/main.c — the `nabla` command: train, evaluate and run models from the shell.
 *
 *     nabla train examples/specs/fmnist_mlp.spec --epochs 10 --out mlp.safetensors
 *     nabla eval mlp.safetensors --data t10k-images-idx3-ubyte.gz --labels t10k-labels...
 *     nabla predict mlp.safetensors images.npy
 *     nabla info mlp.safetensors
 *     nabla cv tabular.spec --data table.csv --folds 5
 *     nabla tokenize train /usr/share/games/fortunes --vocab 2048 --out tok.json
 *     nabla quantize mlp.safetensors --calib train-images-idx3-ubyte.gz
 *
 * This is the only place in nabla where the process ends: every command returns its status,
 * which becomes the exit code (0 success, 1 failure, 2 usage error), and every failure has
 * printed one line on stderr. */
#include "cli.h"

#include <string.h>

static const cli_cmd *const commands[] = {
    &cli_cmd_train,    &cli_cmd_eval, &cli_cmd_predict,  &cli_cmd_info,     &cli_cmd_export,
    &cli_cmd_tokenize, &cli_cmd_cv,   &cli_cmd_quantize, &cli_cmd_generate,
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "nabla %s — train, evaluate and run neural networks\n\n"
            "usage: nabla COMMAND [ARGUMENTS] [OPTIONS]\n"
            "       nabla --version\n"
            "       nabla --help\n\ncommands:\n",
            NB_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nRun 'nabla COMMAND --help' for a command's arguments and options. Model files "
               "are safetensors\n(PyTorch reads them); specs are described in docs/spec.md.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(c, "--version") || !strcmp(c, "-V")) {
        printf("nabla %s\n", NB_VERSION);
        return CLI_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(c, commands[i]->name) != 0) continue;
        cli_args a;
        int rc = cli_parse(commands[i], argc - 2, argv + 2, &a);
        if (rc == CLI_HELP) return CLI_OK;
        if (rc != CLI_OK) return rc;
        rc = cli_memory_setup(&a); /* before any other nabla call */
        if (rc != CLI_OK) return rc;
        rc = commands[i]->run(&a);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "nabla %s: cannot write the output\n", c);
            return CLI_FAIL;
        }
        return rc;
    }
    fprintf(stderr,
            "nabla: unknown command '%s' (commands: train, eval, predict, info, export, "
            "tokenize, cv, quantize, generate; "
            "see 'nabla --help')\n",
            c);
    return CLI_USAGE;
}
