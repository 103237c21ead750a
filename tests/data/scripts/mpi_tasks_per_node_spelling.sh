#!/bin/bash
# --tasks-per-node: the older spelling of --ntasks-per-node, still read by sbatch 22.05.
#SBATCH --job-name=lammps-melt
#SBATCH --nodes=1
#SBATCH --tasks-per-node=16
#SBATCH --time=00:20:00

module load lammps/29Sep2021
srun lmp -in in.melt || echo "lammps missing"
