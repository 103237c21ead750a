"""Slurm adapters: commands as data (``commands``), pure parsers (``parse``, ``states``,
``arrays``) and two SlurmBackend implementations, ``SlurmCliBackend`` (sbatch/squeue/sacct
through a CommandRunner) and ``PyslurmBackend`` (pyslurm, in process, optional)."""
