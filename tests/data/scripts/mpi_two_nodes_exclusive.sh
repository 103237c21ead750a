#!/bin/bash
#SBATCH --job-name=openfoam-motorbike
#SBATCH --partition=parallel
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=28
#SBATCH --exclusive
#SBATCH --time=03:00:00
#SBATCH --output=%x-%j.out

module purge
module load openfoam/v2106
source "${FOAM_BASH:-/dev/null}"

decomposePar -force || true
srun simpleFoam -parallel || echo "OpenFOAM not installed here"
