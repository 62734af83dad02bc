"""crms.demo"""
