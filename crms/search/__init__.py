"""crms.search"""
