"""allocations"""
