/*
 * Replays fuzz corpora as an ordinary test when no fuzzer is built: calls
 * the target on every file of the directories given.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    unsigned long files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 2;
        }
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (ent->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], ent->d_name);
            size_t n;
            uint8_t *p = cwt_read_file(path, &n);
            if (!p) {
                fprintf(stderr, "replay: cannot read %s\n", path);
                closedir(d);
                return 2;
            }
            /* At a guard page, as the parser tests do. */
            cwt_guarded g;
            if (cwt_guard(&g, p, n) == 0) {
                LLVMFuzzerTestOneInput(g.data, n);
                cwt_unguard(&g);
            }
            free(p);
            files++;
        }
        closedir(d);
    }
    printf("replay: %lu inputs\n", files);
    return files ? 0 : 2;
}
