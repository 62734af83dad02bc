"""crms.api"""
