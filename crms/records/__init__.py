"""crms.records"""
