#!/bin/bash
# getopt_long reads unambiguous prefixes: --err is --error, --part is --partition.
#SBATCH --part=debug
#SBATCH --err=abbrev-%j.err
#SBATCH --job=abbrev
#SBATCH --time=00:05:00

sleep 1
