#!/bin/bash
#SBATCH --export=PATH=/tmp/evil,ALL
#SBATCH --time=00:05:00

which python3
