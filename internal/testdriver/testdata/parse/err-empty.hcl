# nothing declared
