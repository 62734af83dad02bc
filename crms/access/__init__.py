"""crms.access"""
