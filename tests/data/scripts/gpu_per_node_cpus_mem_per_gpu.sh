#!/bin/bash
#SBATCH --job-name=unet-seg
#SBATCH --partition=gpu
#SBATCH --nodes=1
#SBATCH --gpus-per-node=2
#SBATCH --cpus-per-gpu=7
#SBATCH --mem-per-gpu=16G
#SBATCH --time=03:00:00

set -euo pipefail
module load cuda/11.4
nvidia-smi || true
