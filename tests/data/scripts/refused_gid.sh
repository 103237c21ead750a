#!/bin/bash
#SBATCH --gid=root
#SBATCH --time=00:05:00

id
