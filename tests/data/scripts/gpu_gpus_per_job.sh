#!/bin/bash
#SBATCH --job-name=bert-finetune
#SBATCH --partition=gpu
#SBATCH --gpus=1
#SBATCH --cpus-per-task=4
#SBATCH --time=01:00:00

source ~/miniconda3/etc/profile.d/conda.sh 2>/dev/null && conda activate nlp || true
python3 finetune.py --model camembert-base || echo "finetune.py missing"
