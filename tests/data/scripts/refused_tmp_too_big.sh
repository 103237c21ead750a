#!/bin/bash
# 20 GB of local scratch: the nodes have 10000 MB.
#SBATCH --tmp=20G
#SBATCH --time=00:30:00

sleep 1
