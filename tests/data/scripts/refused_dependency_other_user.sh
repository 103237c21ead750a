#!/bin/bash
# @DEP@ is a job of ANOTHER user (the corpus runner submits it as bob).
#SBATCH --dependency=afterok:@DEP@
#SBATCH --time=00:10:00

sleep 1
