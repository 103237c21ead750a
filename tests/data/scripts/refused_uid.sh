#!/bin/bash
#SBATCH --uid=0
#SBATCH --time=00:05:00

id
