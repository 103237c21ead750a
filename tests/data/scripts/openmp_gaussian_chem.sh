#!/bin/bash
#SBATCH -J benzene_opt
#SBATCH -p long
#SBATCH -t 2-00:00:00
#SBATCH -N 1
#SBATCH -n 1
#SBATCH -c 28
#SBATCH --mem=50000

# Gaussian 16 geometry optimisation; %NProcShared in the input must match -c.
module load gaussian/g16-c01
export GAUSS_SCRDIR=${LOCAL_WORK_DIR:-/tmp}/g16-$SLURM_JOB_ID
mkdir -p "$GAUSS_SCRDIR"
cat > benzene.com <<END
%NProcShared=$SLURM_CPUS_PER_TASK
%Mem=45GB
#P B3LYP/6-31G(d) Opt

benzene

0 1
END
g16 < benzene.com > benzene.log || true
