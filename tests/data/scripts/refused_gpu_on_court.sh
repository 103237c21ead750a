#!/bin/bash
# Asks for a GPU on court: GPUs are offered on the gpu partition only.
#SBATCH --partition=court
#SBATCH --gres=gpu:1
#SBATCH --time=00:30:00

nvidia-smi
