# db
