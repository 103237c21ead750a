#!/bin/bash
#SBATCH --job-name=resnet-ddp
#SBATCH --partition=gpu
#SBATCH --gres=gpu:p100:2
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=7
#SBATCH --mem=60G
#SBATCH --time=04:00:00

module load cuda/11.4 python3-DL/3.8.5
srun python3 train_ddp.py --epochs 90 || echo "training script missing"
