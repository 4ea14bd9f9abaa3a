# A module with a syntax error on line 3, as a user might write it.

def onMessage(self payload):
    pass
