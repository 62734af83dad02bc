"""crms.web"""
