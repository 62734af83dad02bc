"""crms.cli"""
