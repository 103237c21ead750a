#!/bin/bash
# Second step of a pre-processing -> solver chain; @DEP@ is the first step's job id
# (the corpus runner puts a real id of the same user there).
#SBATCH --job-name=solve-after-mesh
#SBATCH --dependency=afterok:@DEP@
#SBATCH --time=01:00:00
#SBATCH --ntasks=4

srun ./solver mesh.msh || echo "solver missing"
