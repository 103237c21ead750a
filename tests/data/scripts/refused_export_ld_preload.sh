#!/bin/bash
#SBATCH --export=ALL,LD_PRELOAD=/tmp/libhook.so
#SBATCH --time=00:05:00

hostname
