"""crms.exchange"""
