#!/bin/bash
#SBATCH --job-name=vasp-relax
#SBATCH --partition=long
#SBATCH --time=1-00:00:00
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=28
#SBATCH --mem=60G

module load intel/2021.4 intel-mpi/2021.4 vasp/6.2.1
export I_MPI_PMI_LIBRARY=/usr/lib64/libpmi.so
mpirun -np $SLURM_NTASKS vasp_std || echo "vasp missing"
